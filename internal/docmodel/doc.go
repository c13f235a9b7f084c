// Package docmodel is the BSON machinery the document stores share: the
// mongo adapter and the document fake encode, decode, query and update
// documents through it, so that both keep and lose exactly what the
// MongoDB driver keeps and loses (see ports.DocStore's rules).
//
// A [Model] describes one model type: its registry (the driver's default
// registry, plus the model's "_id" and every [ports.DocRef] stored as
// ObjectIDs, and the created and updated keys renamed when the store names
// them), the BSON key of every field a Query or a Patch can name, the
// declared key tree that Update and Patch write field by field, and the
// portable document rules that are checked on the encoded bytes before
// anything is sent (valid UTF-8, finite floats, document keys, nesting
// depth, the 16 MiB size limit).
//
// Nothing here talks to a server: the adapter sends what the Model builds,
// the fake applies it to its stored BSON.
package docmodel
