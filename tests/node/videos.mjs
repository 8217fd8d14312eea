// The official openai Node SDK, unmodified, against a live reelgate: edit, extend and
// createCharacter with uploaded clips, edit by id ({id}, sent as video[id]), getCharacter.
// Run by tests/integration/test_node_sdk.py with BASE_URL, API_KEY, CLIP and SOURCE set;
// prints what the SDK returned as one JSON object.
import fs from 'node:fs';
import OpenAI, { toFile } from 'openai';

const client = new OpenAI({ apiKey: process.env.API_KEY, baseURL: process.env.BASE_URL,
                            maxRetries: 0 });
const clip = () => toFile(fs.readFileSync(process.env.CLIP), 'clip.mp4', { type: 'video/mp4' });

const edited = await client.videos.edit({ prompt: 'node: the clip at dusk', video: await clip() });
const extended = await client.videos.extend({ prompt: 'node: and on', seconds: '4',
                                              video: await clip() });
const byId = await client.videos.edit({ prompt: 'node: the source, edited',
                                        video: { id: process.env.SOURCE } });
const character = await client.videos.createCharacter({ name: 'Node Pip', video: await clip() });
const fetched = await client.videos.getCharacter(character.id);
let refused = null;
try {
  await client.videos.extend({ prompt: 'too short a step', seconds: '6', video: await clip() });
} catch (err) {
  refused = { status: err.status, code: err.code, param: err.param };
}
process.stdout.write(JSON.stringify({ edited, extended, byId, character, fetched, refused }));
