"""Request plumbing shared by the feature routers (in-memory forms); FastAPI, no feature."""
