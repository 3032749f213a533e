"""The asyncio shell around :class:`vipkeeper.core.node.VrrpNode`: an adapter with
no protocol decision in it.  One job per module:

``app``         lifecycle: pid file, sockets, signals, start, stop, the exit code
``supervisor``  the daemon's tasks; the first unexpected exception stops the daemon
``scheduler``   wakes the node at its next deadline (``loop.call_at``)
``effects``     carries out the node's effects (send, VIPs, gratuitous, logs, notify)
``trackers``    builds the trackers of a config and turns their results into verdicts
``reload``      the pure reload plan and the single-flight reload
``status``      the status JSON, built from a snapshot
``control``     the control socket (status, reload) and its client
``metrics``     the optional Prometheus endpoint
``notify``      notify scripts and FIFOs
``systemd``     sd_notify(3)

Importing this package imports nothing heavy: ``vipkeeper run`` removes stale
VIPs before it imports ``app``.
"""
