// Drive Gladia's official JS SDK (@gladiaio/sdk) against the gladia-async emulator.
//
// Run by run.py, which starts the emulator and sets GLADIA_API_URL / GLADIA_API_KEY. Each step
// prints one JSON line {"step", "ok", "error"}; the live session prints {"live": {id, sha256}}
// so run.py can compare the audio the emulator kept. The last line is {"total": n}.
import { createHash } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { GladiaClient } from '@gladiaio/sdk'

const EXTERNAL = 'https://files.example.com/audio/meeting.mp3'
const LIVE_BYTES = 192_000
const LIVE_CHUNK = 3_200

let total = 0
const report = (line) => process.stdout.write(JSON.stringify(line) + '\n')

async function step(name, check) {
  total += 1
  const started = Date.now()
  try {
    const outcome = await check()
    const error = outcome === false ? 'check failed' : null
    report({ step: name, ok: outcome !== false, error, ms: Date.now() - started })
  } catch (err) {
    report({ step: name, ok: false, error: String(err?.message ?? err).slice(0, 200) })
  }
}

function wav(seconds = 2, rate = 16_000) {
  const samples = Math.floor(seconds * rate)
  const buffer = Buffer.alloc(44 + samples * 2)
  buffer.write('RIFF', 0)
  buffer.writeUInt32LE(36 + samples * 2, 4)
  buffer.write('WAVEfmt ', 8)
  buffer.writeUInt32LE(16, 16)
  buffer.writeUInt16LE(1, 20)
  buffer.writeUInt16LE(1, 22)
  buffer.writeUInt32LE(rate, 24)
  buffer.writeUInt32LE(rate * 2, 28)
  buffer.writeUInt16LE(2, 32)
  buffer.writeUInt16LE(16, 34)
  buffer.write('data', 36)
  buffer.writeUInt32LE(samples * 2, 40)
  for (let n = 0; n < samples; n++) {
    buffer.writeInt16LE(Math.round(6000 * Math.sin((2 * Math.PI * 440 * n) / rate)), 44 + n * 2)
  }
  return buffer
}

// Distinct, deterministic bytes: a skipped or duplicated byte cannot go unseen.
function liveAudio() {
  const parts = []
  for (let counter = 0, size = 0; size < LIVE_BYTES; counter++, size += 32) {
    const word = Buffer.alloc(4)
    word.writeUInt32BE(counter)
    parts.push(createHash('sha256').update(word).digest())
  }
  return Buffer.concat(parts).subarray(0, LIVE_BYTES)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function within(ms, promise, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function prerecorded(gladia) {
  const client = gladia.preRecordedV2()
  const state = {}
  const done = (options) =>
    client.createAndPoll({ audio_url: state.audioUrl ?? EXTERNAL, ...options }, { interval: 20, timeout: 20_000 })

  const dir = mkdtempSync(join(tmpdir(), 'gladia-js-probe-'))
  const path = join(dir, 'call.wav')
  writeFileSync(path, wav())

  await step('pre-recorded: upload a file', async () => {
    const uploaded = await client.uploadFile(path)
    state.audioUrl = uploaded.audio_url
    return uploaded.audio_metadata.filename === 'call.wav'
  })
  await step('pre-recorded: create a job', async () => {
    const created = await client.create({ audio_url: state.audioUrl })
    state.jobId = created.id
    return Boolean(created.result_url)
  })
  await step('pre-recorded: poll it to done, read the transcript', async () => {
    const job = await client.poll(state.jobId, { interval: 20, timeout: 20_000 })
    return job.status === 'done' && Boolean(job.result.transcription.full_transcript)
  })
  await step('pre-recorded: get it: file and request_params', async () => {
    const job = await client.get(state.jobId)
    return job.file != null && job.request_params != null
  })
  for (const model of ['solaria-1', 'solaria-3']) {
    await step(`pre-recorded: model ${model} accepted and echoed`, async () => {
      const job = await done({ model })
      return job.request_params.model === model
    })
  }
  await step('pre-recorded: diarization', async () => {
    const job = await done({ diarization: true, diarization_config: { max_speakers: 3 } })
    return job.result.transcription.utterances[0].speaker != null
  })
  await step('pre-recorded: subtitles inside translation results', async () => {
    const job = await done({
      translation: true,
      translation_config: { target_languages: ['fr'] },
      subtitles: true,
      subtitles_config: { formats: ['srt'] },
    })
    return job.result.translation.results[0].subtitles[0].format === 'srt'
  })
  await step('pre-recorded: sentences', async () => {
    const job = await done({ sentences: true })
    return job.result.sentences.results.length > 0
  })
  await step('pre-recorded: custom_metadata echoed', async () => {
    const job = await done({ custom_metadata: { user: 'js', team: 'a' } })
    state.tagged = job.id
    return job.custom_metadata.user === 'js'
  })
  await step('pre-recorded: list by custom_metadata', async () => {
    const page = await client.list({ custom_metadata: { user: 'js' } })
    return page.items.length === 1 && page.items[0].id === state.tagged
  })
  await step('pre-recorded: follow next links', async () => {
    const all = (await client.list({ limit: 100 })).items.length
    let page = await client.list({ limit: 2 })
    const seen = page.items.map((item) => item.id)
    while (page.next) {
      page = await client.list({ url: page.next })
      seen.push(...page.items.map((item) => item.id))
    }
    return all >= 7 && seen.length === all && new Set(seen).size === all
  })
  await step("pre-recorded: download the job's audio", async () => {
    const file = Buffer.from(await client.getFile(state.jobId))
    return file.equals(wav())
  })
  await step('pre-recorded: delete a job', async () => client.delete(state.jobId))
  await step('pre-recorded: a deleted job is gone', async () => {
    try {
      await client.get(state.jobId)
    } catch {
      return true
    }
    return false
  })
  await step('pre-recorded: a wrong type is a 400', async () => {
    try {
      await client.createUntyped({ audio_url: EXTERNAL, diarization: 'yes' })
    } catch {
      return true
    }
    return false
  })
}

async function live(gladia) {
  const client = gladia.liveV2({ wsRetry: { delay: () => 50 } })
  const sent = liveAudio()
  const state = { ackedEnd: 0, connected: 0, final: null, ended: null }
  let onConnected
  const connected = new Promise((resolve) => (onConnected = resolve))
  let onEnded
  const ended = new Promise((resolve) => (onEnded = resolve))

  const session = client.startSession({
    encoding: 'wav/pcm',
    sample_rate: 16_000,
    bit_depth: 16,
    channels: 1,
    messages_config: {
      receive_acknowledgments: true,
      receive_final_transcripts: true,
      receive_post_processing_events: true,
    },
  })
  session.on('message', (message) => {
    if (message.type === 'audio_chunk' && message.acknowledged) {
      state.ackedEnd = Math.max(state.ackedEnd, message.data.byte_range[1])
    }
    if (message.type === 'post_final_transcript') state.final = message
  })
  session.on('connected', () => {
    state.connected += 1
    onConnected()
  })
  session.on('ended', (message) => {
    state.ended = message
    onEnded()
  })

  await step('live: start a session and connect', async () => {
    state.id = await session.getSessionId()
    await within(10_000, connected, 'connected')
    return Boolean(state.id)
  })
  await step('live: stream 6 s, stop, the session ends with 1000', async () => {
    for (let offset = 0; offset < sent.length; offset += LIVE_CHUNK) {
      session.sendAudio(sent.subarray(offset, offset + LIVE_CHUNK))
      await sleep(2) // a live source: the drop lands mid-stream
    }
    session.stopRecording()
    await within(20_000, ended, 'ended')
    return state.ended.code === 1000
  })
  await step('live: dropped mid-stream and resumed', async () => state.connected >= 2)
  await step(`live: ${LIVE_BYTES} of ${LIVE_BYTES} bytes acknowledged`, async () => {
    if (state.ackedEnd !== LIVE_BYTES) throw new Error(`${state.ackedEnd} of ${LIVE_BYTES} acknowledged`)
    return true
  })
  await step('live: post_final_transcript received', async () =>
    Boolean(state.final?.data?.transcription?.full_transcript)
  )
  await step('live: the live job is done', async () => (await client.get(state.id)).status === 'done')
  report({ live: { id: state.id, sha256: createHash('sha256').update(sent).digest('hex') } })
}

const gladia = new GladiaClient({ apiUrl: process.env.GLADIA_API_URL, apiKey: process.env.GLADIA_API_KEY })
await prerecorded(gladia)
await live(gladia)
report({ total })
