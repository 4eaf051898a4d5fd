// Record shapes as xapi's get_record returns them (field names, types and defaults from
// REFERENCE.md §2-§3). int64 fields are JS integers, floats are Double, datetimes Date.

import { Double, EPOCH, NULL_REF, type RpcStruct } from '../wire/values.js';

/** Proper-case DB table names (HANDLE_INVALID's first parameter) by lower-case class. */
export const CLASS_NAMES: Record<string, string> = {
  session: 'session',
  pool: 'pool',
  host: 'host',
  host_metrics: 'host_metrics',
  vm: 'VM',
  vm_metrics: 'VM_metrics',
  vm_guest_metrics: 'VM_guest_metrics',
  task: 'task',
  message: 'message',
  sr: 'SR',
  pbd: 'PBD',
  vdi: 'VDI',
  vbd: 'VBD',
};

export const MIB = 1024 * 1024;

export interface VmInit {
  uuid: string;
  name_label: string;
  name_description?: string;
  power_state?: string;
  is_a_template?: boolean;
  is_default_template?: boolean;
  is_a_snapshot?: boolean;
  snapshot_of?: string;
  is_control_domain?: boolean;
  memory: number;
  memory_overhead: number;
  vcpus: number;
  order?: number;
  start_delay?: number;
  shutdown_delay?: number;
  other_config?: Record<string, string>;
  blocked_operations?: Record<string, string>;
  xenstore_data?: Record<string, string>;
  affinity?: string;
  domain_type: string;
  metrics: string;
  ha_restart_priority?: string;
}

export function vmRecord(init: VmInit): RpcStruct {
  const hvm = init.domain_type === 'hvm';
  return {
    uuid: init.uuid,
    allowed_operations: [],
    current_operations: {},
    name_label: init.name_label,
    name_description: init.name_description ?? '',
    power_state: init.power_state ?? 'Halted',
    user_version: 1,
    is_a_template: init.is_a_template ?? false,
    is_default_template: init.is_default_template ?? false,
    suspend_VDI: NULL_REF,
    resident_on: NULL_REF,
    scheduled_to_be_resident_on: NULL_REF,
    affinity: init.affinity ?? NULL_REF,
    memory_overhead: init.memory_overhead,
    memory_target: init.memory,
    memory_static_max: init.memory,
    memory_dynamic_max: init.memory,
    memory_dynamic_min: init.memory,
    memory_static_min: Math.min(init.memory, 128 * MIB),
    VCPUs_params: {},
    VCPUs_max: init.vcpus,
    VCPUs_at_startup: init.vcpus,
    actions_after_softreboot: 'soft_reboot',
    actions_after_shutdown: 'destroy',
    actions_after_reboot: 'restart',
    actions_after_crash: 'restart',
    consoles: [],
    VIFs: [],
    VBDs: [],
    VUSBs: [],
    crash_dumps: [],
    VTPMs: [],
    PV_bootloader: hvm ? '' : 'pygrub',
    PV_kernel: '',
    PV_ramdisk: '',
    PV_args: '',
    PV_bootloader_args: '',
    PV_legacy_args: '',
    HVM_boot_policy: hvm ? 'BIOS order' : '',
    HVM_boot_params: hvm ? { order: 'cd' } : {},
    HVM_shadow_multiplier: new Double(1),
    platform: hvm ? { viridian: 'true', acpi: '1', apic: 'true', pae: 'true', nx: 'true' } : {},
    PCI_bus: '',
    other_config: { ...(init.other_config ?? {}) },
    domid: init.is_control_domain ? 0 : -1,
    domarch: '',
    last_boot_CPU_flags: {},
    is_control_domain: init.is_control_domain ?? false,
    metrics: init.metrics,
    guest_metrics: NULL_REF,
    last_booted_record: '',
    recommendations: '',
    xenstore_data: { ...(init.xenstore_data ?? {}) },
    ha_always_run: false,
    ha_restart_priority: init.ha_restart_priority ?? '',
    is_a_snapshot: init.is_a_snapshot ?? false,
    snapshot_of: init.snapshot_of ?? NULL_REF,
    snapshots: [],
    snapshot_time: EPOCH,
    transportable_snapshot_id: '',
    blobs: {},
    tags: [],
    blocked_operations: { ...(init.blocked_operations ?? {}) },
    snapshot_info: {},
    snapshot_metadata: '',
    parent: NULL_REF,
    children: [],
    bios_strings: {},
    protection_policy: NULL_REF,
    is_snapshot_from_vmpp: false,
    snapshot_schedule: NULL_REF,
    is_vmss_snapshot: false,
    appliance: NULL_REF,
    start_delay: init.start_delay ?? 0,
    shutdown_delay: init.shutdown_delay ?? 0,
    order: init.order ?? 0,
    VGPUs: [],
    attached_PCIs: [],
    suspend_SR: NULL_REF,
    version: 0,
    generation_id: '',
    hardware_platform_version: 0,
    has_vendor_device: false,
    requires_reboot: false,
    reference_label: '',
    domain_type: init.domain_type,
    NVRAM: {},
    pending_guidances: [],
    pending_guidances_recommended: [],
    pending_guidances_full: [],
    groups: [],
    secureboot_certificates_state: 'ok',
  };
}

export function vmMetricsRecord(uuid: string, vcpus: number, hvm: boolean): RpcStruct {
  return {
    uuid,
    memory_actual: 0,
    // As xapi without rrdd data (recorded): no vCPUs until the domain exists, one zero sample.
    VCPUs_number: vcpus,
    VCPUs_utilisation: { '0': new Double(0) },
    VCPUs_CPU: {},
    VCPUs_params: {},
    VCPUs_flags: {},
    state: [],
    start_time: EPOCH,
    install_time: EPOCH,
    last_updated: EPOCH,
    other_config: {},
    hvm,
    nested_virt: false,
    nomigrate: false,
    current_domain_type: 'unspecified',
    numa_optimised: false,
    numa_nodes: 0,
    numa_node_memory: {},
  };
}

/**
 * VM_guest_metrics as xapi creates it the moment a VM becomes Running (xapi_xenops.ml →
 * xapi_guest_agent.ml; recorded: shared/xapi-traces 03): live already true, every map empty until
 * the guest agent writes. "The agent reports" is therefore never `live` alone.
 */
export function guestMetricsRecord(uuid: string, now: Date): RpcStruct {
  return {
    uuid,
    os_version: {},
    netbios_name: {},
    PV_drivers_version: {},
    PV_drivers_up_to_date: false,
    memory: {},
    disks: {},
    networks: {},
    other: {},
    last_updated: now,
    other_config: {},
    live: true,
    can_use_hotplug_vbd: 'unspecified',
    can_use_hotplug_vif: 'unspecified',
    PV_drivers_detected: false,
    services: {},
  };
}

/** What a guest agent (with PV drivers when pv) writes into its VM_guest_metrics. */
export function agentReport(pv: boolean, features: string[], now: Date): RpcStruct {
  const other: Record<string, string> = {};
  for (const f of features) other[`feature-${f}`] = '1';
  other['has-vendor-device'] = '0';
  return {
    os_version: { name: 'Simulated Linux', distro: 'sim', major: '1', minor: '0' },
    PV_drivers_version: pv ? { major: '9', minor: '3', micro: '1', build: '0' } : {},
    PV_drivers_up_to_date: pv,
    other,
    last_updated: now,
    can_use_hotplug_vbd: pv ? 'yes' : 'unspecified',
    can_use_hotplug_vif: pv ? 'yes' : 'unspecified',
    PV_drivers_detected: pv,
  };
}

export interface HostInit {
  uuid: string;
  name_label: string;
  address: string;
  metrics: string;
  enabled: boolean;
  memory_overhead: number;
  other_config?: Record<string, string>;
}

/** host.allowed_operations as xapi lists them; a disabled host may also be rebooted, shut down, updated (recorded: 09). */
export function hostAllowedOperations(enabled: boolean): string[] {
  return enabled ? ['vm_migrate', 'provision', 'vm_resume', 'enable', 'evacuate', 'vm_start'] : ['vm_migrate', 'provision', 'vm_resume', 'apply_updates', 'enable', 'reboot', 'evacuate', 'vm_start', 'shutdown'];
}

export function hostRecord(init: HostInit): RpcStruct {
  return {
    uuid: init.uuid,
    name_label: init.name_label,
    name_description: 'Default install',
    memory_overhead: init.memory_overhead,
    allowed_operations: hostAllowedOperations(init.enabled),
    current_operations: {},
    API_version_major: 2,
    API_version_minor: 21,
    API_version_vendor: 'XenSource',
    API_version_vendor_implementation: {},
    enabled: init.enabled,
    software_version: { product_version: '8.3.0', product_brand: 'XCP-ng', xapi: '24.19', hostname: init.name_label, xen: '4.17.0' },
    // What xapi puts there at its start: no local SR, and when the host and xapi started (seconds written "N.").
    other_config: { no_local_storage: 'true', agent_start_time: `${Math.floor(Date.now() / 1000)}.`, boot_time: `${Math.floor(Date.now() / 1000)}.`, ...(init.other_config ?? {}) },
    capabilities: [],
    cpu_configuration: {},
    sched_policy: 'credit',
    supported_bootloaders: ['pygrub', 'eliloader'],
    resident_VMs: [],
    logging: {},
    PIFs: [],
    suspend_image_sr: NULL_REF,
    crash_dump_sr: NULL_REF,
    crashdumps: [],
    patches: [],
    updates: [],
    PBDs: [],
    host_CPUs: [],
    cpu_info: { cpu_count: '8', socket_count: '1', vendor: 'GenuineIntel', speed: '2400.000', modelname: 'Simulated CPU' },
    hostname: init.name_label,
    address: init.address,
    metrics: init.metrics,
    license_params: {},
    ha_statefiles: [],
    ha_network_peers: [],
    blobs: {},
    tags: [],
    external_auth_type: '',
    external_auth_service_name: '',
    external_auth_configuration: {},
    edition: 'xcp-ng',
    license_server: {},
    bios_strings: {},
    power_on_mode: '',
    power_on_config: {},
    local_cache_sr: NULL_REF,
    chipset_info: {},
    PCIs: [],
    PGPUs: [],
    PUSBs: [],
    ssl_legacy: false,
    guest_VCPUs_params: {},
    display: 'enabled',
    virtual_hardware_platform_versions: [0, 1, 2],
    control_domain: NULL_REF,
    updates_requiring_reboot: [],
    features: [],
    iscsi_iqn: '',
    multipathing: false,
    uefi_certificates: '',
    certificates: [],
    editions: ['xcp-ng'],
    pending_guidances: [],
    tls_verification_enabled: true,
    last_software_update: EPOCH,
    https_only: false,
    latest_synced_updates_applied: 'unknown',
    numa_affinity_policy: 'default_policy',
    pending_guidances_recommended: [],
    pending_guidances_full: [],
    last_update_hash: '',
    ssh_enabled: false,
    ssh_enabled_timeout: 0,
    ssh_expiry: EPOCH,
    console_idle_timeout: 0,
    ssh_auto_mode: true,
    max_cstate: '',
    secure_boot: false,
    ntp_mode: 'Disabled',
    ntp_custom_servers: [],
    timezone: 'Etc/UTC',
  };
}

export function hostMetricsRecord(uuid: string, total: number, free: number, now: Date): RpcStruct {
  return { uuid, memory_total: total, memory_free: free, live: true, last_updated: now, other_config: {} };
}

/** pool.restrictions as xapi fills it from v6d with every feature allowed (recorded: shared/xapi-traces 01). */
const RESTRICTION_KEYS = 'vlan qos pool_attached_storage netapp equalogic pooling xha marathon email_alerting historical_performance wlb rbac dmc checkpoint cpu_masking connection platform_filter regular_nag_dialog vmpr vmss intellicache gpu dr vif_locking storage_xen_motion vgpu integrated_gpu_passthrough vss guest_agent_auto_update pci_device_for_auto_update xen_motion guest_ip_setting ad nested_virt live_patching set_vcpus_number_live pvs_proxy igmp_snooping rpu pool_size cbt usb_passthrough network_sriov corosync cluster_address zstd_export pool_secret_rotation certificate_verification updates internal_repo_access vtpm vm_groups vm_start vm_appliance_start';
const POOL_RESTRICTIONS: Record<string, string> = Object.fromEntries(
  RESTRICTION_KEYS.split(' ').map((k) => {
    if (k === 'xha') return ['enable_xha', 'false'];
    if (k === 'platform_filter' || k === 'regular_nag_dialog') return [k, 'true'];
    return [`restrict_${k}`, 'false'];
  }),
);

export function poolRecord(uuid: string, name: string, master: string, otherConfig: Record<string, string>): RpcStruct {
  return {
    uuid,
    name_label: name,
    name_description: '',
    master,
    default_SR: NULL_REF,
    suspend_image_SR: NULL_REF,
    crash_dump_SR: NULL_REF,
    other_config: { ...otherConfig },
    ha_enabled: false,
    ha_configuration: {},
    ha_statefiles: [],
    ha_host_failures_to_tolerate: 0,
    ha_plan_exists_for: 0,
    ha_allow_overcommit: false,
    ha_overcommitted: false,
    blobs: {},
    tags: [],
    gui_config: {},
    health_check_config: {},
    wlb_url: '',
    wlb_username: '',
    wlb_enabled: false,
    wlb_verify_cert: false,
    redo_log_enabled: false,
    redo_log_vdi: NULL_REF,
    vswitch_controller: '',
    restrictions: { ...POOL_RESTRICTIONS },
    metadata_VDIs: [],
    ha_cluster_stack: 'xhad',
    allowed_operations: ['ha_enable', 'cluster_create', 'designate_new_master', 'tls_verification_enable', 'configure_repositories', 'sync_updates', 'sync_bundle', 'apply_updates', 'cert_refresh', 'exchange_certificates_on_join', 'exchange_ca_certificates_on_join', 'copy_primary_host_certs', 'eject', 'get_updates', 'exchange_crls_on_join'],
    current_operations: {},
    guest_agent_config: {},
    cpu_info: { features_hvm_host: '', features_pv_host: '', socket_count: '1', cpu_count: '8', vendor: 'GenuineIntel' },
    policy_no_vendor_device: false,
    live_patching_disabled: false,
    igmp_snooping_enabled: false,
    uefi_certificates: '',
    custom_uefi_certificates: '',
    is_psr_pending: false,
    tls_verification_enabled: true,
    repositories: [],
    client_certificate_auth_enabled: false,
    client_certificate_auth_name: '',
    repository_proxy_url: '',
    repository_proxy_username: '',
    repository_proxy_password: NULL_REF,
    migration_compression: false,
    coordinator_bias: true,
    local_auth_max_threads: 8,
    ext_auth_max_threads: 1,
    ext_auth_cache_enabled: false,
    ext_auth_cache_size: 50,
    ext_auth_cache_expiry: 300,
    telemetry_uuid: NULL_REF,
    telemetry_frequency: 'weekly',
    telemetry_next_collection: EPOCH,
    last_update_sync: EPOCH,
    update_sync_frequency: 'weekly',
    update_sync_day: 0,
    update_sync_enabled: false,
    recommendations: {},
    license_server: {},
    ha_reboot_vm_on_internal_shutdown: true,
    limit_console_sessions: false,
    vm_console_idle_timeout: 0,
    auto_update_vm_secureboot_certificates: false,
  };
}

export function taskRecord(uuid: string, nameLabel: string, host: string, now: Date): RpcStruct {
  return {
    uuid,
    name_label: nameLabel,
    name_description: '',
    allowed_operations: [],
    current_operations: {},
    created: now,
    finished: EPOCH,
    status: 'pending',
    resident_on: host,
    progress: new Double(0),
    type: '<none/>',
    result: '',
    error_info: [],
    other_config: {},
    subtask_of: NULL_REF,
    subtasks: [],
    backtrace: '()',
  };
}
