"""Enedis's files: the monthly key files a PMO sends (:mod:`.keyfile`, rounded without loss
by :mod:`.rounding`), the monthly figures Enedis sends back (:mod:`.acc`) and their
reconciliation with pvshare's (:mod:`.reconcile`), and households' load-curve exports
(:mod:`.loadcurve`, :mod:`.curves`).
"""
