-- Still the leader? (The lock lives as long as the connection that answers this.)
SELECT true AS leader
