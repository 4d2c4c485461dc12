"""Running the cutover: against a deployed stack (boto3) or rehearsed in the embedded emulator."""
