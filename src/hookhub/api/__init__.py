"""HTTP only: routers per Rocket.Chat resource; parse, authenticate, call a service, shape the envelope."""
