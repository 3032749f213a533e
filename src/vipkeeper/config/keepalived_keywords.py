"""keepalived 2.2.7 keywords that vipkeeper does not implement: which it accepts and ignores
(with a warning that says so) rather than calling them unknown.
"""

from __future__ import annotations

#: Top-level blocks of keepalived that vipkeeper does not support (a warning, the block is skipped).
TOP_LEVEL_UNSUPPORTED = frozenset(
    """virtual_server virtual_server_group garp_group
    linkbeat_interfaces track_group interface_up_down_delays SSL
    net_namespace net_namespace_ipvs namespace_with_ipsets use_pid_dir instance child_wait_time
    linkbeat_use_polling""".split()
)


#: Top-level blocks of keepalived that would change the VIP and that vipkeeper refuses (an error).
TOP_LEVEL_REFUSED = {"bfd_instance": "BFD is a protocol of its own (use track_script or track_interface)"}


#: keepalived 2.2.7 global_defs keywords (core/global_parser.c) vipkeeper accepts and ignores.
GLOBAL_DEFS_IGNORED = frozenset(
    """linkbeat_use_polling net_namespace net_namespace_ipvs namespace_with_ipsets use_pid_dir
    instance child_wait_time process_names process_name vrrp_process_name checker_process_name
    lvs_process_name bfd_process_name notification_email_from smtp_server smtp_helo_name
    smtp_connect_timeout notification_email smtp_alert startup_script startup_script_timeout
    shutdown_script shutdown_script_timeout max_auto_priority min_auto_priority_delay
    smtp_alert_vrrp smtp_alert_checker checker_log_all_failures dynamic_interfaces
    no_email_faults default_interface disable_local_igmp lvs_timeouts lvs_flush
    lvs_flush_on_stop lvs_flush_onstop lvs_sync_daemon
    vrrp_iptables vrrp_ipsets nftables nftables_priority nftables_ifindex nftables_ipvs
    nftables_ipvs_priority nftables_ipvs_start_fwmark nftables_counters vrrp_no_swap
    vrrp_cpu_affinity
    fifo_write_vrrp_states_on_reload lvs_notify_fifo lvs_notify_fifo_script checker_priority
    checker_no_swap checker_rt_priority checker_cpu_affinity checker_rlimit_rttime
    checker_rlimit_rtime bfd_priority bfd_no_swap bfd_rt_priority bfd_cpu_affinity
    bfd_rlimit_rttime bfd_rlimit_rtime snmp_socket enable_traps enable_snmp_vrrp
    enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2 enable_snmp_rfcv3
    enable_snmp_checker enable_dbus dbus_service_name vrrp_netlink_cmd_rcv_bufs
    vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs
    vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs process_monitor_rcv_bufs_force
    lvs_netlink_cmd_rcv_bufs lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs
    lvs_netlink_monitor_rcv_bufs_force rs_init_notifies no_checker_emails vrrp_rx_bufs_policy
    vrrp_rx_bufs_multiplier log_unknown_vrids
    umask random_seed reload_check_config reload_time_file reload_repeat reload_file
    include_check config_save_dir tmp_config_directory data_use_instance""".split()
)


#: keepalived 2.2.7 vrrp_instance keywords (vrrp/vrrp_parser.c) that vipkeeper ignores.
VRRP_INSTANCE_IGNORED = frozenset(
    """linkbeat_use_polling debug smtp_alert
    lvs_sync_daemon_interface
    kernel_rx_buf_size""".split()
)

#: keepalived 2.2.7 vrrp_sync_group keywords that vipkeeper ignores.
VRRP_SYNC_GROUP_IGNORED = frozenset("smtp_alert".split())
