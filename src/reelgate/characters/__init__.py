"""Characters: a tenant's, made from a clip by one channel's upstream, named by creates."""
