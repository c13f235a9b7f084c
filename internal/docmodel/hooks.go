package docmodel

import (
	"context"

	"go.mongodb.org/mongo-driver/mongo"
)

// The hooks below run mgm's model hooks in mgm's order, for the document
// stores (the mongo adapter and the fake alike). The interfaces are mgm's
// hook interfaces, spelled out structurally so that no mgm import is
// needed, and because mgm marks the context-free ones deprecated while
// ports.Document implements those. Each store stamps the created and
// updated times itself after the Before hooks have run.

type (
	creatingCtx interface{ Creating(context.Context) error }
	creating    interface{ Creating() error }
	createdCtx  interface{ Created(context.Context) error }
	created     interface{ Created() error }
	updatingCtx interface{ Updating(context.Context) error }
	updating    interface{ Updating() error }
	updatedCtx  interface {
		Updated(context.Context, *mongo.UpdateResult) error
	}
	updated interface {
		Updated(*mongo.UpdateResult) error
	}
	savingCtx interface{ Saving(context.Context) error }
	savingH   interface{ Saving() error }
	savedCtx  interface{ Saved(context.Context) error }
	savedH    interface{ Saved() error }
)

// BeforeCreate runs m's Creating and Saving hooks.
func BeforeCreate(ctx context.Context, m any) error {
	if h, ok := m.(creatingCtx); ok {
		if err := h.Creating(ctx); err != nil {
			return err
		}
	} else if h, ok := m.(creating); ok {
		if err := h.Creating(); err != nil {
			return err
		}
	}
	return saving(ctx, m)
}

// AfterCreate runs m's Created and Saved hooks.
func AfterCreate(ctx context.Context, m any) error {
	if h, ok := m.(createdCtx); ok {
		if err := h.Created(ctx); err != nil {
			return err
		}
	} else if h, ok := m.(created); ok {
		if err := h.Created(); err != nil {
			return err
		}
	}
	return saved(ctx, m)
}

// BeforeUpdate runs m's Updating and Saving hooks.
func BeforeUpdate(ctx context.Context, m any) error {
	if h, ok := m.(updatingCtx); ok {
		if err := h.Updating(ctx); err != nil {
			return err
		}
	} else if h, ok := m.(updating); ok {
		if err := h.Updating(); err != nil {
			return err
		}
	}
	return saving(ctx, m)
}

// AfterUpdate runs m's Updated and Saved hooks.
func AfterUpdate(ctx context.Context, res *mongo.UpdateResult, m any) error {
	if h, ok := m.(updatedCtx); ok {
		if err := h.Updated(ctx, res); err != nil {
			return err
		}
	} else if h, ok := m.(updated); ok {
		if err := h.Updated(res); err != nil {
			return err
		}
	}
	return saved(ctx, m)
}

func saving(ctx context.Context, m any) error {
	if h, ok := m.(savingCtx); ok {
		return h.Saving(ctx)
	} else if h, ok := m.(savingH); ok {
		return h.Saving()
	}
	return nil
}

func saved(ctx context.Context, m any) error {
	if h, ok := m.(savedCtx); ok {
		return h.Saved(ctx)
	} else if h, ok := m.(savedH); ok {
		return h.Saved()
	}
	return nil
}
