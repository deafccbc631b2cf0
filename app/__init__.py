"""The painting server: FastAPI routes in front of model.engine.Engine.

Nothing in `model/` imports this package; everything HTTP lives here.
"""
