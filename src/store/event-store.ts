/** The audit trail: CloudStack-style events (VMSNAPSHOT.CREATE, VM.START ...). */
import { randomUUID } from 'node:crypto';
import type { Db } from './database.ts';

export interface NewEvent {
  readonly accountId: string;
  readonly userId: string | null;
  readonly type: string;
  readonly level?: 'INFO' | 'WARN' | 'ERROR';
  readonly state: 'Scheduled' | 'Started' | 'Completed' | 'Created';
  readonly description: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
}

export class EventStore {
  constructor(private readonly db: Db) {}

  async record(e: NewEvent): Promise<void> {
    await this.db
      .insertInto('events')
      .values({
        id: randomUUID(),
        account_id: e.accountId,
        user_id: e.userId,
        type: e.type,
        level: e.level ?? 'INFO',
        state: e.state,
        description: e.description,
        resource_type: e.resourceType ?? null,
        resource_id: e.resourceId ?? null,
        created: Date.now(),
      })
      .execute();
  }
}
