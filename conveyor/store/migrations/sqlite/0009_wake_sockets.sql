-- Issue #19: each worker's wake-up socket (a Unix datagram address, '@' for Linux's abstract
-- names), so an enqueue in another process on the same host wakes it at once.
ALTER TABLE conveyor_workers ADD COLUMN wake_address TEXT;
