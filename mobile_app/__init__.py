"""The Kivy field app for the crews' tablets (offline first); its sync client imports no Kivy."""
