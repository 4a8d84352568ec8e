-- Save a raw extraction payload (the same token, source and fingerprint overwrite it); its id.
INSERT INTO raw_extraction_data (run_id, step, tenant, token, source, fingerprint, payload, is_text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (token, source, fingerprint) DO UPDATE SET payload = excluded.payload, is_text = excluded.is_text RETURNING id
