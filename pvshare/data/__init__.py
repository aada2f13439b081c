"""Real data bundled with pvshare (each file's source and licence in the README beside it)
and its readers: :mod:`~pvshare.data.bundled` (weather, one household),
:mod:`~pvshare.data.sample` (the building's sample year).
"""
