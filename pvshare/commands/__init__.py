"""The ``pvshare`` commands, one module per command group: each parses, calls one library
function, prints (the work lives in the library).
"""
