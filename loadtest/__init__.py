"""Load tests that speak the gateway's real protocol (k6 and Locust), a concurrency ramp that finds
the stack's capacity against the latency budget, and the report that ``make loadtest`` writes."""
