"""One module per block kind: its keyword table, its handlers, and its completion (the
keepalived rules that turn a block's draft into the model).

``global_defs``, ``vrrp_script``, ``vrrp_pgsql``, ``vrrp_dcs``, ``track_file``, ``vrrp_track_process``,
``vrrp_instance`` (and ``vrrp_instance_completion``), ``vrrp_sync_group``; ``shared`` has the
handlers several kinds use.
"""
