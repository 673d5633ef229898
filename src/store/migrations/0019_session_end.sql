-- When the customer ended the chat (DELETE /session). An ended session's
-- token no longer connects to MQTT, but stays good for an hour of REST calls
-- about its own, now closed, conversation: the widget's end-of-chat offers
-- (the transcript by email, the satisfaction rating) need it.
alter table customer_sessions add column ended_at timestamptz;
