"""Per-store pages of the report API: why was store X down, drawn from what the report run stored.

    GET /                          the latest report's worst stores, each a link to its page
    GET /stores/{id}               the week on the store's wall clock (HTML, nothing from another host)
    GET /stores/{id}/timeline      the same as JSON

Kept light: `paths` is imported by the Dagster assets (links in the report's metadata), so
nothing here imports FastAPI; the router is `store_pages.router.store_pages_router`.
"""
