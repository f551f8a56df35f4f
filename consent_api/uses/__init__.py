"""Data uses: every use of a patient's data an organisation reports, permitted or refused."""
