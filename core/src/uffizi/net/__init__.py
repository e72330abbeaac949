"""Outbound network access: the one guarded URL fetcher (`uffizi.net.fetch`)."""
