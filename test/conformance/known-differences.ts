// Differences between the recorded real xapi and the simulator that stay, each with why. The same
// list, in prose, is in docs/SIMULATOR.md ("Where it differs from a real xapi"). A difference the
// suite finds that no entry covers fails the suite; an entry that covers nothing fails it too (so
// the list cannot go stale).

import type { Diff } from './compare.js';
import type { RecordedCall } from './traces.js';

export interface KnownDifference {
  id: string;
  why: string;
  /** Which answers: file name, call name. */
  file?: RegExp;
  call?: RegExp;
  line?: number[];
  /** Which differences in them: path (dot-joined) and kind. */
  path?: RegExp;
  kind?: Diff['kind'];
  /**
   * Shows only when the replay meets the operation at the same moment as the recording did (a poll
   * of a task still pending): not every run needs it, so the stale-entry check leaves it out.
   */
  timing?: true;
}

const HOST_IDENTITY = /^Value\.([^.]+\.)?(API_version_minor|software_version|license_params|license_server|edition|editions|cpu_info|bios_strings|chipset_info|host_CPUs|capabilities|PCIs|https_only|tls_verification_enabled)(\.|$)/;

export const KNOWN_DIFFERENCES: KnownDifference[] = [
  {
    id: 'host-identity',
    why: 'the simulated host presents itself as an XCP-ng 8.3 host (brand, versions, licence, CPU and BIOS details, TLS settings); the recording is a development xapi build on the xenopsd simulator with a stub licensing daemon. The product reads none of these fields.',
    call: /^(host\.get_record|host\.get_all_records)$/,
    path: HOST_IDENTITY,
  },
  {
    id: 'pool-identity',
    why: 'TLS verification and the telemetry schedule are set up by a real installation; the recorded fresh xapi had neither. The product reads neither.',
    call: /^pool\.(get_record|get_all_records)$/,
    path: /^Value\.([^.]+\.)?(tls_verification_enabled|telemetry_next_collection)$/,
  },
  {
    id: 'objects-not-simulated',
    why: 'the simulator keeps no consoles, networks, physical CPUs, RBAC roles or secrets (their classes answer empty); the product never reads them.',
    path: /(^|\.)consoles$|^Value\.OpaqueRef:[0-9a-f-]+$|^Value$/,
    call: /^(VM\.get_all_records(_where)?|console\.get_all_records|network\.get_all(_records)?|host_cpu\.get_all_records|role\.get_all_records|secret\.get_all_records|event\.from)$/,
  },
  {
    id: 'list-methods',
    why: 'xapi offers 2,258 methods; the simulator offers the few hundred the product and the recordings use, all of them under xapi\'s names (pool.get_by_name_label is generated for every class with a name_label; xapi has none for pool).',
    call: /^system\.listMethods$/,
  },
  {
    id: 'xenstore-vm-data',
    why: 'VM.xenstore_data mirrors the running domain\'s vm-data subtree including its empty "vm-data" node, as seen on a real XCP-ng host (seed 000); the recording\'s xenopsd simulator has no xenstore at all.',
    path: /xenstore_data\.vm-data$/,
  },
  {
    id: 'vm-metrics-hvm',
    why: 'VM_metrics.hvm is true for a running HVM guest on a real host; the recording\'s xenopsd simulator reports false for every domain [ENV].',
    call: /^VM_metrics\.get_record$/,
    path: /^Value\.hvm$/,
  },
  {
    id: 'task-cancel-points',
    why: 'xapi counts the internal cancellation checkpoints a task passed (other_config debug_info:cancel_points_seen); the simulator has no such checkpoints and does not invent the number.',
    call: /^task\.get_record$/,
    path: /other_config\.debug_info:cancel_points_seen$/,
  },
  {
    id: 'task-cancel-advertised',
    why: 'xapi lists "cancel" in a pending VM operation task\'s allowed_operations from its creation; the simulator lists it only while the operation is at a point where a cancel takes effect (queued behind another operation, or waiting for the guest), which is what a client can rely on.',
    call: /^task\.get_record$/,
    path: /\.allowed_operations$/,
    timing: true,
  },
  {
    id: 'async-race-06',
    why: 'in 06 an Async.VM.start and an Async.VM.hard_shutdown were sent together and the recording\'s outcome depends on which xapi thread ran first (the hard_shutdown was checked against the state before the start and failed; a task.cancel came too late). The simulator queues the hard_shutdown behind the start (xapi\'s documented conflict rule), so the VM ends Halted there and Running here; every record after it differs accordingly.',
    file: /^06_/,
    line: [83, 84, 85, 87, 90, 92, 93, 94, 95, 96, 97, 98],
  },
  {
    id: 'event-batch-history',
    why: 'an event.from with an empty token lists recently deleted tasks xapi still remembers, and which objects a batch after a start holds (host mod, vm_metrics add), or whether a change still falls into the next short wait, depends on xapi\'s internal timing and on the replay running faster than the recording; the simulator\'s database has a different history.',
    call: /^event\.from$/,
    file: /^07_/,
    line: [2, 3, 6, 7, 12],
  },
  {
    id: 'second-client',
    why: 'the recording client ran a second client whose calls are not recorded (it changed a VM during a blocking event.next, renamed a VM, created a message during a blocking event.from); the replay has nothing to replay for it.',
    file: /^(07_|08_|09_)/,
    line: [15, 3, 14, 31],
    call: /^(event\.next|VM\.get_record|event\.from)$/,
  },
  {
    id: 'storage-not-simulated',
    why: 'the simulator has no storage: no SR, PBD, VDI or VBD objects can be introduced or created, so the recording\'s DB-only SR, its PBD plug failure and the VM that then needs that SR (VM_REQUIRES_SR) have no counterpart. The product never touches storage.',
    file: /^09_/,
    call: /^(Async\.)?(SR|PBD|VDI|VBD)\.|^session\.(add_to|remove_from)_other_config$|^VM\.(start|start_on|assert_can_boot_here)$|^task\.get_record$/,
    line: [132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 187, 188, 189, 190, 191, 192, 193, 194, 196, 198, 199, 200],
  },
  {
    id: 'ha-and-migration-not-simulated',
    why: 'HA, migration and network plumbing are not simulated (pool.enable_ha/disable_ha/ha_compute…/set_ha_host_failures_to_tolerate, VM.pool_migrate, VM.assert_can_migrate, host.migrate_receive); the recorded answers are mostly environment artefacts [ENV: stub licensing, empty CPU featuresets, no PIFs]. The product never migrates or configures HA.',
    file: /^09_/,
    call: /^(pool\.(enable_ha|disable_ha|ha_compute_max_host_failures_to_tolerate|set_ha_host_failures_to_tolerate|get_record)|VM\.(pool_migrate|assert_can_migrate)|host\.migrate_receive)$/,
  },
  {
    id: 'xapi-restart-09',
    why: 'from line 168 on, 09 was recorded after every daemon (xapi, xenopsd simulator, stubs) was restarted together, which xapi takes for a host reboot: the host came back enabled, the running VM came back Halted, xapi wrote PBD_PLUG_FAILED_ON_SERVER_START. The replay does not restart the simulator in the middle of a file.',
    file: /^09_/,
    line: [172, 173, 176, 177, 201],
  },
  {
    id: 'messages-of-the-environment',
    why: 'the set of messages differs where xapi wrote messages about its own environment (PBD_PLUG_FAILED_ON_SERVER_START at startup, HA_POOL_OVERCOMMITTED) or where message events are delivered on their own token counter; the simulator writes VM_STARTED and VM_SHUTDOWN as xapi does and every message a client creates.',
    file: /^09_/,
    call: /^(message\.(get_all_records|get_since|get|get_all)|event\.from)$/,
    line: [32, 33, 34, 35, 37, 38, 39, 46, 50],
  },
];

export function justification(call: RecordedCall, d: Diff): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find(
    (k) =>
      (!k.file || k.file.test(call.file)) &&
      (!k.call || k.call.test(call.call)) &&
      (!k.line || k.line.includes(call.line)) &&
      (!k.path || k.path.test(d.path)) &&
      (!k.kind || k.kind === d.kind),
  );
}
