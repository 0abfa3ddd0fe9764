"""Running as several processes: leases with fencing tokens, camera shards, process roles."""
