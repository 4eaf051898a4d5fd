// What each backend's failures mean to the engine. A xapi code can mean different things for
// different operations; xl and xenstore failures get codes of their own world.

import { describe, expect, it } from 'vitest';
import { ToolstackError, failureSentence } from '../../src/core/meanings.js';
import { translateXapiError, xapiMeaning } from '../../src/toolstack/xenapi-meanings.js';
import { translateXlError } from '../../src/toolstack/xl/meanings.js';
import { XenApiError } from '../../src/xenapi/errors.js';
import { XenstoreError } from '../../src/xenstore/errors.js';

describe('XenAPI failures', () => {
  it('a refusal of a clean request for want of drivers is no-clean-path; the same code on a start is a refusal', () => {
    const lacks = new XenApiError('VM_LACKS_FEATURE', ['OpaqueRef:v'], 'Async.VM.clean_shutdown');
    expect(xapiMeaning(lacks, 'clean-shutdown')).toBe('no-clean-path');
    expect(xapiMeaning(new XenApiError('OPERATION_BLOCKED', ['OpaqueRef:v', 'maintenance']), 'start')).toBe('refused');
  });

  it('only a VM handle that went away means gone; a lost task is transient', () => {
    expect(xapiMeaning(new XenApiError('HANDLE_INVALID', ['VM', 'OpaqueRef:v']), 'start')).toBe('gone');
    expect(xapiMeaning(new XenApiError('HANDLE_INVALID', ['task', 'OpaqueRef:t']), 'other')).toBe('refused');
    expect(xapiMeaning(new XenApiError('XENAPI_TASK_LOST', ['OpaqueRef:t', 'VM.start']), 'start')).toBe('transient');
    expect(xapiMeaning(new XenApiError('VM_BAD_POWER_STATE', ['OpaqueRef:v', 'halted', 'running']), 'start')).toBe('wrong-state');
  });

  it('storage not there yet is transient for a start or a plug, and a refusal elsewhere; permanent start failures stay refused', () => {
    const nfs = new XenApiError('SR_BACKEND_FAILURE_73', ['', 'NFS mount error', ''], 'PBD.plug');
    expect(xapiMeaning(nfs, 'plug-storage')).toBe('transient');
    expect(xapiMeaning(nfs, 'start')).toBe('transient');
    expect(xapiMeaning(new XenApiError('VM_REQUIRES_SR', ['OpaqueRef:v', 'OpaqueRef:sr']), 'start')).toBe('transient');
    expect(xapiMeaning(new XenApiError('OTHER_OPERATION_IN_PROGRESS', ['VM', 'OpaqueRef:v', 'start']), 'start')).toBe('transient');
    expect(xapiMeaning(nfs, 'clean-shutdown')).toBe('refused');
    for (const code of ['VM_IS_TEMPLATE', 'LICENCE_RESTRICTION', 'NO_HOSTS_AVAILABLE']) expect(xapiMeaning(new XenApiError(code, []), 'start'), code).toBe('refused');
  });

  it('keeps the code, parameters and message, and leaves other errors alone', () => {
    const t = translateXapiError(new XenApiError('VM_BOOT_FAILED', ['OpaqueRef:v', 'no bootable disk'], 'VM.start'), 'start') as ToolstackError;
    expect(t).toBeInstanceOf(ToolstackError);
    expect([t.meaning, t.code, ...t.params]).toEqual(['refused', 'VM_BOOT_FAILED', 'OpaqueRef:v', 'no bootable disk']);
    expect(t.message).toContain('VM.start');
    const bug = new TypeError('x is undefined');
    expect(translateXapiError(bug, 'other')).toBe(bug);
  });
});

describe('xenstore failures on the xl backend', () => {
  it('a dropped connection or no answer is transient, a refusal is refused, both with XENSTORE_ codes', () => {
    const reset = translateXlError(new XenstoreError('ECONNRESET', 'WRITE /local/domain/3/control/shutdown')) as ToolstackError;
    expect([reset.meaning, reset.code, ...reset.params]).toEqual(['transient', 'XENSTORE_ECONNRESET', 'WRITE /local/domain/3/control/shutdown']);
    const denied = translateXlError(new XenstoreError('EACCES', 'READ /local/domain/3/name')) as ToolstackError;
    expect([denied.meaning, denied.code]).toEqual(['refused', 'XENSTORE_EACCES']);
  });
});

describe('a failure as a sentence (failureSentence)', () => {
  it('a wrapped failure reads flat: the explanation, then the innermost code and its parameters', () => {
    const unreachable = new XenApiError('XENAPI_UNREACHABLE', ['unix:/run/x.sock', 'ENOENT'], 'pool.get_all', 'pool.get_all: cannot reach the toolstack at unix:/run/x.sock (ENOENT)');
    const notReady = new XenApiError('XENAPI_NOT_READY', ['unix:/run/x.sock', 'has no socket yet'], undefined, 'the toolstack did not become ready', { cause: unreachable });
    const seam = translateXapiError(notReady, 'other');
    expect(failureSentence(seam)).toBe('the toolstack did not become ready — error XENAPI_UNREACHABLE with unix:/run/x.sock, ENOENT');
  });

  it('an error that is only a code names the call that failed, not "CODE [CODE […]]"', () => {
    const timeout = new XenApiError('XENAPI_CALL_TIMEOUT', ['VM.get_all_records', 'h:443', '60000'], 'VM.get_all_records');
    expect(failureSentence(translateXapiError(timeout, 'other'))).toBe('the call VM.get_all_records failed — error XENAPI_CALL_TIMEOUT with VM.get_all_records, h:443, 60000');
    expect(failureSentence(new ToolstackError('refused', 'HOST_IS_SLAVE'))).toBe('a toolstack call failed — error HOST_IS_SLAVE');
  });

  it('anything without a code is its own message', () => {
    expect(failureSentence(new Error('disk full'))).toBe('disk full');
    expect(failureSentence('plain')).toBe('plain');
  });
});
