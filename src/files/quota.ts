// What a customer may upload to one conversation. A widget session is open
// to anyone (POST /session), so without a bound a stranger could fill the
// database with files they never send. The bounds are derived from the
// attachments_* settings an admin already sets, so they move with them:
//
// - unsent files: a message carries at most attachments_max_files; a
//   customer who picks files, takes some back and picks again, or whose
//   message did not go out, holds a few messages' worth at most — 3 ×
//   attachments_max_files (30 by default). Sending them frees the places.
// - bytes: everything the customer uploaded to the conversation, sent or
//   not, at most 5 × attachments_max_bytes (50 MiB by default): five files of
//   the largest size, or dozens of phone pictures; a chat is not a file
//   transfer service. Files removed (unsent, or with their conversation) no
//   longer count.
//
// Agents have no quota: they are trusted staff behind a login.
//
// A customer's file never sent in a message is removed a day after its
// upload (removeUnsentFiles, src/files/deletions.ts).

import type { Settings } from '../settings/settings.js';

/** unsent files: this many messages' worth (× attachments_max_files) */
export const UNSENT_MESSAGES_WORTH = 3;
/** bytes: this many files of the largest size (× attachments_max_bytes) */
export const LARGEST_FILES_WORTH = 5;

/** A customer's upload never sent in a message is removed this long after it was uploaded. */
export const UNSENT_FILE_LIFETIME_MS = 24 * 3600 * 1000;
/** How often each process looks for unsent files to remove (more often while a pass finds a full batch). */
export const UNSENT_SWEEP_EVERY_MS = 60_000;

export interface CustomerQuota {
  /** files the customer uploaded to one conversation and did not send yet */
  maxUnsentFiles: number;
  /** bytes of every file the customer uploaded to one conversation */
  maxBytes: number;
}

export function customerQuota(limits: Pick<Settings, 'attachments_max_bytes' | 'attachments_max_files'>): CustomerQuota {
  return {
    maxUnsentFiles: UNSENT_MESSAGES_WORTH * limits.attachments_max_files,
    maxBytes: LARGEST_FILES_WORTH * limits.attachments_max_bytes,
  };
}
