"""Reports for the energy advisor, in French, as self-contained HTML and PDF.

The *analysis* modules (:mod:`.household`, :mod:`.tenant`, :mod:`.building`) are pure
functions over numpy arrays (UTC step starts, energies in Wh) that return plain figures; the
*rendering* modules (:mod:`.charts`, :mod:`.render`) turn those figures into charts (SVG) and
pages (jinja2 templates, WeasyPrint for the PDF). :mod:`.sources` loads the building's data;
:mod:`.run` is what each ``pvshare report`` command does, :mod:`.batch` renders many tenants'
statements in parallel.
"""
