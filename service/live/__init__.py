"""Live events: GET /api/events/stream, pushed to every replica by LISTEN/NOTIFY.

    order_events INSERT ──trigger──▶ NOTIFY order_events (once per transaction, at commit)
        ──▶ listener.py (one LISTEN connection per process) wakes hub.py
        ──▶ the hub reads the new events once, for every reseller, in feed order
        ──▶ subscription.py: each open stream of that reseller (bounded queue)
        ──▶ stream.py writes them to the client, after the stream's own backlog.
"""
