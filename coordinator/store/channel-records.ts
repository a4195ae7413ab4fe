/**
 * The contract's notification channels. Part of `MetadataStore`; imports no implementation.
 *
 * A *channel* is where a tenant's job lifecycle events go: a webhook (an http(s) URL that receives
 * JSON), a Slack incoming-webhook URL (https), an email address, or a PagerDuty Events v2 routing
 * key (32 letters and digits). Its *events filter* lists the event names it wants (`job-failed`,
 * `rpo-at-risk`, …); an empty filter means every event. A disabled channel receives nothing. The
 * target is a credential in all but the email case (whoever knows a webhook URL can post to it), so
 * API layers must not echo it to people who may not manage channels.
 */
import type { Timestamp } from './metadata-store.js'

export type ChannelKind = 'webhook' | 'slack' | 'email' | 'pagerduty'
export const CHANNEL_KINDS: readonly ChannelKind[] = ['webhook', 'slack', 'email', 'pagerduty']

export interface ChannelInput {
  kind: ChannelKind
  target: string
  /** 0 – MAX_CHANNEL_EVENTS distinct event names; empty means every event. */
  events: string[]
  enabled: boolean
}

export interface NewNotificationChannel extends ChannelInput {
  /** Omit to have a random id generated. */
  id?: string
}

export interface NotificationChannel extends ChannelInput {
  tenantId: string
  id: string
  createdAt: Timestamp
  updatedAt: Timestamp
}

export interface ChannelRecords {
  /** Throws STORE_NOT_FOUND (tenant), STORE_ALREADY_EXISTS, STORE_INVALID_ARGUMENT (target, events). */
  createNotificationChannel(
    tenantId: string,
    channel: NewNotificationChannel,
    now: Timestamp,
  ): Promise<NotificationChannel>
  /** Replaces kind, target, events and enabled (createdAt stays). Throws STORE_NOT_FOUND. */
  updateNotificationChannel(
    tenantId: string,
    channelId: string,
    channel: ChannelInput,
    now: Timestamp,
  ): Promise<NotificationChannel>
  getNotificationChannel(tenantId: string, channelId: string): Promise<NotificationChannel | undefined>
  /** The tenant's channels, ordered by id. */
  listNotificationChannels(tenantId: string): Promise<NotificationChannel[]>
  /** False when there was no such channel. */
  deleteNotificationChannel(tenantId: string, channelId: string): Promise<boolean>
}
