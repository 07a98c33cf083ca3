"""Training the severity classifier, apart from the runtime scoring that uses it.

``corral train`` fits a model from rule files, JSONL catalogues and the
verdicts of the people on call (``feedback``); ``default_model`` fits the
one Corral scores with out of the box, from the rule ``catalogue/`` shipped
with it. The triage worker only loads model files (``scoring.store``) and
runs them (``scoring.classifier``); it trains the default model once, the
first time it starts without one.
"""
