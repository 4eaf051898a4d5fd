// The engine: executes boot and shutdown plans through the Toolstack seam. It reads no config,
// writes no state and talks to no service manager; its drivers hand it callbacks for that.

export { runBoot, type BootOptions } from './boot.js';
export { runShutdown, type ShutdownOptions } from './shutdown.js';
export type { EngineHooks, GuestStep, Progress } from './hooks.js';
export { EXIT_DEGRADED, EXIT_FAILED, EXIT_OK } from './report.js';
