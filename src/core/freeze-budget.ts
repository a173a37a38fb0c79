/**
 * How long a guest may stay frozen when nothing says otherwise: the default of the
 * `vmsnapshot.freeze.budget` setting, what a strategy falls back to when the setting is unusable, and
 * the budget a host agent's watchdog gives a freeze that names none. One value, so the management
 * server and the agents agree on it.
 */
export const DEFAULT_FREEZE_BUDGET_MS = 10_000;
