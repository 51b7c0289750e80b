"""The API's resources: jobs (and the token lookup), listings."""
