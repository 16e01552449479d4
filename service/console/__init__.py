"""The web console: models, cards, plots, live traffic and a try-it panel per task.

Plain HTML templates, small JS and CSS, all served from this package; the pages call the
service's public API (``:classify``, ``:forecast``, ``:detect``) like any client would.
"""
