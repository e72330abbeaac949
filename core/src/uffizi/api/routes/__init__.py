"""The API's routers, one module per area: `infer`, `jobs`, `results`, `meta`, `keys`."""
