-- Where and why the embedded bus set a message aside in the parking queue.
ALTER TABLE bus_messages ADD COLUMN dead_letter_from TEXT;
ALTER TABLE bus_messages ADD COLUMN dead_letter_reason TEXT;
