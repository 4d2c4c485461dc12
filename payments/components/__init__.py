"""Components more than one layer builds (keys, log groups, buckets, IAM documents)."""
