# Orders keyed by staff through POST /api/orders (phone, walk-in, a fax typed in). The API has
# already built and checked the canonical order (each bad field named), with the request's
# Idempotency-Key as its identity, so the mapping takes it as it is.
.
