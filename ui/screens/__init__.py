"""The screens: farmer flow, registration, staff mode and technician mode."""
