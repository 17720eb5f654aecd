"""The DynamoDB store: the only code in the project that talks to DynamoDB.

Data-access functions are keyword-only and take a ``Db`` (an injectable boto3
client plus table names) first. Errors are domain errors (``api.store.errors``).
"""
