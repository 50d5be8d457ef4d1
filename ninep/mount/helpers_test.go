package mount_test

import "log/slog"

func levelWarn() *slog.LevelVar {
	v := new(slog.LevelVar)
	v.Set(slog.LevelWarn)
	return v
}
