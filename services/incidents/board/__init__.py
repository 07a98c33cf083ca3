"""The incident board: the incidents worker's pages for people, at ``/``.

Server-rendered HTML (the templates under ``templates/board``) with one
small script (``static/board.js``): the board of open incidents, live
through Server-Sent Events from the store's change feed; each incident's
page with its timeline and buttons that call the incident API; its review.
"""
