"""The admin console and the customer upload pages: static HTML, ES modules and CSS served by the app."""
