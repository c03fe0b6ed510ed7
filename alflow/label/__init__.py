"""``alflow label``: a local web page where a person is the oracle of the acquisition loop.

store (the durable label store), session (the loop with a human oracle, in a worker thread),
server (FastAPI routes, Jinja2 pages), render (images and GradCAM overlays as PNG), status
(the status panel's curve), export (CSV and a class-folder tree), labelstudio (tasks out,
annotations in).
"""
