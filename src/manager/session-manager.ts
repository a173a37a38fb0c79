/**
 * Logging in with a username and password, and the sessions that follow (issue 14), as CloudStack's
 * ApiServer.loginUser: a login checks the password (scrypt, ../core/password-hash.ts) and opens a
 * session, which is an id (sent back as the JSESSIONID cookie) and a key (the `sessionkey` every
 * request must repeat as a parameter). A session ends at logout or after `session.timeout` seconds
 * without a request. Failed logins are limited per username and per address (./login-throttle.ts).
 *
 * Every refusal of a login is the same 531, with the same work done (a dummy hash for a user that
 * does not exist or has no password): neither the answer nor its time tells which usernames exist.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ApiErrorCode, ServerApiError } from '../core/errors.ts';
import { verifyAgainstDummy, verifyPassword } from '../core/password-hash.ts';
import { AccountStore, type UserWithAccount } from '../store/account-store.ts';
import type { Db } from '../store/database.ts';
import type { SettingsStore } from '../store/settings-store.ts';
import { sessionHash, UserSessionStore } from '../store/user-session-store.ts';
import { LoginThrottle, type ThrottleLimits } from './login-throttle.ts';

export interface LoginRequest {
  readonly username: string;
  readonly password: string;
  /** The domain path as CloudStack normalises it (`/`, `/child/`), shown in the refusal. */
  readonly domainPath: string;
  /** The client's address, for the per-address limit on failures. */
  readonly clientAddress: string;
}

export interface OpenedSession extends UserWithAccount {
  /** The cookie value (JSESSIONID). */
  readonly sessionId: string;
  /** The value every request must carry as `sessionkey`. */
  readonly sessionKey: string;
  /** `session.timeout`, in seconds (loginresponse's `timeout`). */
  readonly timeoutSeconds: number;
}

export interface SessionManagerDeps {
  readonly db: Db;
  readonly settings: Pick<SettingsStore, 'getNumber'>;
}

/** Activity is written back at most this often (a fraction of the timeout), not on every request. */
const TOUCH_FRACTION = 30;

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function loginFailedError(username: string, domainPath: string): ServerApiError {
  return new ServerApiError(
    ApiErrorCode.ACCOUNT_ERROR,
    `Failed to authenticate user ${username} in domain ${domainPath}; check if username/password are correct`,
  );
}

export class SessionManager {
  private readonly accounts: AccountStore;
  private readonly sessions: UserSessionStore;
  private readonly throttle: LoginThrottle;

  constructor(
    private readonly deps: SessionManagerDeps,
    private readonly now: () => number = Date.now,
  ) {
    this.accounts = new AccountStore(deps.db);
    this.sessions = new UserSessionStore(deps.db);
    this.throttle = new LoginThrottle(now);
  }

  timeoutSeconds(): number {
    return this.deps.settings.getNumber('session.timeout');
  }

  async login(req: LoginRequest): Promise<OpenedSession> {
    const limits = this.loginLimits();
    const waitMs = this.throttle.begin(req.username, req.clientAddress, limits);
    if (waitMs > 0) {
      throw new ServerApiError(
        ApiErrorCode.API_LIMIT_EXCEED,
        `Too many failed login attempts for this user or from this address; try again in ${Math.ceil(waitMs / 1000)} seconds`,
      );
    }
    let found: UserWithAccount | undefined;
    try {
      found = await this.checkPassword(req.username, req.password);
    } catch (err) {
      this.throttle.finish(req.username, req.clientAddress, 'aborted', limits);
      throw err;
    }
    this.throttle.finish(
      req.username,
      req.clientAddress,
      found === undefined ? 'failed' : 'succeeded',
      limits,
    );
    if (found === undefined) throw loginFailedError(req.username, req.domainPath);
    const now = this.now();
    const timeoutSeconds = this.timeoutSeconds();
    await this.sessions.deleteIdle(now - timeoutSeconds * 1000);
    const sessionId = newToken();
    const sessionKey = newToken();
    await this.sessions.insert({ id: sessionId, key: sessionKey, userId: found.user.id, now });
    return { ...found, sessionId, sessionKey, timeoutSeconds };
  }

  private loginLimits(): ThrottleLimits {
    return {
      allowed: this.deps.settings.getNumber('incorrect.login.attempts.allowed'),
      windowMs: this.deps.settings.getNumber('login.lockout.seconds') * 1000,
    };
  }

  /** The user and account when the password is right and both are enabled; the same work either way. */
  private async checkPassword(username: string, password: string): Promise<UserWithAccount | undefined> {
    const found = await this.accounts.findByUsername(username);
    const hash = found === undefined ? undefined : await this.accounts.passwordHashOf(found.user.id);
    const ok = hash === undefined ? await verifyAgainstDummy(password) : await verifyPassword(password, hash);
    if (!ok || found === undefined) return undefined;
    if (found.user.state !== 'enabled' || found.account.state !== 'enabled') return undefined;
    return found;
  }

  /**
   * The user a session belongs to, when `sessionKey` is its key and it has not been idle past the
   * timeout; undefined otherwise (an expired session is deleted on the way).
   */
  async resolve(sessionId: string, sessionKey: string): Promise<UserWithAccount | undefined> {
    const session = await this.sessions.find(sessionId);
    if (session === undefined) return undefined;
    const keyHash = Buffer.from(sessionHash(sessionKey));
    const stored = Buffer.from(session.key_hash);
    if (keyHash.length !== stored.length || !timingSafeEqual(keyHash, stored)) return undefined;
    const now = this.now();
    const timeoutMs = this.timeoutSeconds() * 1000;
    const idle = now - Number(session.last_seen);
    if (idle >= timeoutMs) {
      await this.sessions.delete(session.id_hash);
      return undefined;
    }
    const user = await this.accounts.getUser(session.user_id);
    const account = user === undefined ? undefined : await this.accounts.getAccount(user.account_id);
    if (user === undefined || account === undefined) return undefined;
    if (idle >= timeoutMs / TOUCH_FRACTION) await this.sessions.touch(session.id_hash, now);
    return { user, account };
  }

  /** Ends the session; false when there was no such session with that key. */
  async logout(sessionId: string, sessionKey: string): Promise<boolean> {
    if ((await this.resolve(sessionId, sessionKey)) === undefined) return false;
    await this.sessions.delete(sessionHash(sessionId));
    return true;
  }

  /** Ends every session of a user (its password was changed by someone else). */
  async endSessionsOf(userId: string): Promise<void> {
    await this.sessions.deleteForUser(userId);
  }
}
