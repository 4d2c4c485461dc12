"""The offline planner: every layer's real program under the Pulumi SDK's mocks."""
