#!/bin/sh
# passes on a hot standby too: pg_isready only says the server accepts connections
exec pg_isready -q -h 127.0.0.1
