import { messages, protocol } from '@electric-sql/pglite';

// PGlite's reply to one batch of wire-protocol messages, read straight from
// its bytes. The store needs four things from it: the rows (as text), the
// column and parameter types a Describe returns, the last command tag (a
// COMMIT that answers ROLLBACK) and the first error. PGlite's own parser
// builds an object for every message, bind and parse acknowledgements
// included. Reading the bytes instead, through execProtocolRawStream (which
// skips that parser), and closing a conversation in one statement ran the
// simulator about 10 % faster together. Errors are rare and carry many
// fields, so their bytes go through that parser after all and keep its
// exact shape.

export interface Field {
  name: string;
  dataTypeID: number;
}

export interface Reply {
  /** each DataRow's values in text form, null for SQL null */
  rows: (string | null)[][];
  /** the columns of the last RowDescription, if any */
  fields?: Field[];
  /** the parameter types of the last ParameterDescription, if any */
  paramTypes?: number[];
  /** the tag of the last CommandComplete ('INSERT 0 1', 'COMMIT', 'ROLLBACK'…) */
  lastCommand?: string;
  /** the first ErrorResponse of the batch */
  error?: messages.DatabaseError;
  /** the channels of the NotificationResponses (a LISTENed channel's NOTIFYs, delivered at commit) */
  notified?: string[];
}

const DATA_ROW = 0x44; // 'D'
const ROW_DESCRIPTION = 0x54; // 'T'
const PARAMETER_DESCRIPTION = 0x74; // 't'
const COMMAND_COMPLETE = 0x43; // 'C'
const ERROR_RESPONSE = 0x45; // 'E'
const NOTIFICATION_RESPONSE = 0x41; // 'A'

export function readReply(bytes: Uint8Array): Reply {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reply: Reply = { rows: [] };
  let hasError = false;
  let at = 0;
  while (at + 5 <= buffer.length) {
    const type = buffer[at]!;
    // the length counts itself but not the type byte
    const end = at + 1 + buffer.readInt32BE(at + 1);
    let p = at + 5;
    switch (type) {
      case DATA_ROW: {
        const count = buffer.readInt16BE(p);
        p += 2;
        const values = new Array<string | null>(count);
        for (let i = 0; i < count; i++) {
          const length = buffer.readInt32BE(p);
          p += 4;
          if (length < 0) values[i] = null;
          else {
            values[i] = buffer.toString('utf8', p, p + length);
            p += length;
          }
        }
        reply.rows.push(values);
        break;
      }
      case ROW_DESCRIPTION: {
        const count = buffer.readInt16BE(p);
        p += 2;
        const fields: Field[] = [];
        for (let i = 0; i < count; i++) {
          const nameEnd = buffer.indexOf(0, p);
          const name = buffer.toString('utf8', p, nameEnd);
          // table oid (4), column number (2), then the type oid
          const dataTypeID = buffer.readInt32BE(nameEnd + 7);
          fields.push({ name, dataTypeID });
          // type oid (4), type size (2), type modifier (4), format (2)
          p = nameEnd + 1 + 4 + 2 + 4 + 2 + 4 + 2;
        }
        reply.fields = fields;
        break;
      }
      case PARAMETER_DESCRIPTION: {
        const count = buffer.readInt16BE(p);
        p += 2;
        const types: number[] = [];
        for (let i = 0; i < count; i++) types.push(buffer.readInt32BE(p + 4 * i));
        reply.paramTypes = types;
        break;
      }
      case COMMAND_COMPLETE:
        reply.lastCommand = buffer.toString('utf8', p, end - 1);
        break;
      case ERROR_RESPONSE:
        hasError = true;
        break;
      case NOTIFICATION_RESPONSE: {
        // the sender's process id (4), then the channel, then the payload
        const channelEnd = buffer.indexOf(0, p + 4);
        (reply.notified ??= []).push(buffer.toString('utf8', p + 4, channelEnd));
        break;
      }
    }
    at = end;
  }
  if (hasError) reply.error = firstError(bytes);
  return reply;
}

function firstError(bytes: Uint8Array): messages.DatabaseError | undefined {
  let error: messages.DatabaseError | undefined;
  new protocol.Parser().parse(bytes, (message) => {
    if (error === undefined && message instanceof messages.DatabaseError) error = message;
  });
  return error;
}
