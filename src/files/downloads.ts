import { downloadsBusy } from './errors.js';

/**
 * Files one process sends at once. Each holds about a piece of its file in
 * memory (src/files/database-store.ts), or one of the S3 client's 50
 * sockets for as long as its client takes to read: uploads and the file
 * sweeper keep the rest of them.
 */
export const DOWNLOADS_AT_ONCE = 32;

/** Counts the downloads being sent; past `atOnce`, 503 SB_ATTACHMENT_DOWNLOADS_BUSY with retry-after, not a queue nobody sees. */
export function downloadsInFlight(atOnce = DOWNLOADS_AT_ONCE) {
  let now = 0;
  return {
    /** A place for one download, or the error; the function answered gives it back (once, however often it is called). */
    enter(): () => void {
      if (now >= atOnce) throw downloadsBusy(atOnce);
      now++;
      let left = false;
      return () => {
        if (left) return;
        left = true;
        now--;
      };
    },
  };
}
