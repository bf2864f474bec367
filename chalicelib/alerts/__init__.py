"""Alerts: rules, notifications (SNS email, webhooks), throttled delivery as jobs, and the alert log."""
